package client

import (
	"mk/coord"
	"mk/logdir"
	"mk/replica"
)

func replicaConfig(t *coord.Topic) logdir.Config { return replica.LogConfig(t) }
