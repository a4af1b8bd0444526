package client

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/server"
)

// Metadata writes of one-shot commands (topic create, alter, delete, a
// producer's auto-create) go to a live broker over its Unix socket as
// Kafka admin requests, and the broker writes the metadata under
// meta/lock. A client process never holds meta/lock while a broker is
// alive: stopped (Ctrl-Z, SIGSTOP) inside it, it would block the
// controller's failover and every other metadata write for
// coord.MetaLockTimeout. Only when no broker is alive does a command write
// the metadata itself (there is nobody to block).

// ErrNoLiveBroker: no broker is alive to send an admin request to; the
// caller writes the metadata itself.
var ErrNoLiveBroker = errors.New("no live broker")

// AdminTimeout bounds the wait for a broker's answer to an admin request
// when the caller gives no deadline: longer than the broker's own wait
// for meta/lock, so that its answer (not a timeout here) says why.
var AdminTimeout = coord.MetaLockTimeout + 5*time.Second

// AdminRequest sends req to a live broker's socket and reads its answer
// into resp. The brokers are tried in turn, from a random one, skipping
// those whose process is stopped (it would answer nothing until resumed).
// A broker that cannot be connected to (starting, or dying) is skipped,
// and the live brokers are tried again until one takes the request or
// the deadline passes. A broker that takes the request and does not
// answer by the deadline fails the request: it may still carry it out,
// so it is not sent again. ErrNoLiveBroker means no broker is alive.
func AdminRequest(c *coord.Cluster, deadline time.Time, req kmsg.Request, resp kmsg.Response) error {
	if deadline.IsZero() {
		deadline = time.Now().Add(AdminTimeout)
	}
	wait := max(time.Until(deadline).Round(100*time.Millisecond), 100*time.Millisecond) // for messages
	backoff := 2 * time.Millisecond
	for {
		infos, err := c.Brokers()
		if err != nil {
			return err
		}
		var live []coord.BrokerInfo
		for _, b := range infos {
			if b.Alive {
				live = append(live, b)
			}
		}
		if len(live) == 0 {
			return ErrNoLiveBroker
		}
		var stopped []string
		var last error
		start := rand.IntN(len(live))
		for i := range live {
			b := live[(start+i)%len(live)]
			if coord.ProcessStopped(b.Pid) {
				stopped = append(stopped, strconv.Itoa(b.ID))
				continue
			}
			nc, err := server.DialUnixPath(c.SocketPath(b.ID))
			if err != nil {
				last = fmt.Errorf("broker %d: %w", b.ID, err)
				continue
			}
			nc.SetDeadline(deadline)
			err = roundTrip(nc, req, resp)
			nc.Close()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Taken and not answered: it may still be carried out, so
				// it is not sent again.
				return unavailable("broker %d did not answer a %s request within %s: it may still carry it out", b.ID, kmsg.NameForKey(req.Key()), wait)
			}
			if err != nil {
				return unavailable("broker %d did not answer a %s request: %v", b.ID, kmsg.NameForKey(req.Key()), err)
			}
			return nil
		}
		if last == nil {
			last = fmt.Errorf("every live broker is stopped (SIGSTOP): broker %s; resume them (SIGCONT) and retry", strings.Join(stopped, ", "))
		}
		// A broker starting (alive, its socket not yet listening) or
		// stopping: a matter of milliseconds, bounded by the deadline.
		if time.Now().Add(backoff).After(deadline) {
			return unavailable("no live broker took the %s request within %s: %v", kmsg.NameForKey(req.Key()), wait, last)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// unavailable is a failure to reach a live broker: exit status as
// coord.ErrNoBroker, message as written.
func unavailable(format string, args ...any) error {
	return &adminError{msg: fmt.Sprintf(format, args...), errs: []error{coord.ErrNoBroker}}
}

// AdminError is a broker's answer to one topic of an admin request as mk's
// error: the broker's message (for mk's own errors, the text the command
// gives when it writes the metadata itself) matching the mk sentinel of
// the code, so the command exits as it would have locally.
func AdminError(code int16, msg *string) error {
	kerrv := kerr.ErrorForCode(code)
	if kerrv == nil {
		return nil
	}
	text := ""
	if msg != nil {
		text = *msg
	}
	if text == "" {
		var ke *kerr.Error
		if errors.As(kerrv, &ke) {
			text = strings.ToLower(ke.Description[:1]) + strings.TrimSuffix(ke.Description[1:], ".")
		} else {
			text = kerrv.Error()
		}
	}
	var sentinels []error
	switch kerrv {
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID:
		sentinels = []error{coord.ErrUnknownTopic}
	case kerr.TopicAlreadyExists:
		sentinels = []error{coord.ErrTopicExists}
	case kerr.InvalidTopicException:
		// The broker answers a '.'/'_' collision as Kafka does, as an
		// invalid name; mk calls the name taken.
		if strings.Contains(text, "collides") {
			sentinels = []error{coord.ErrTopicExists, coord.ErrTopicNameCollision}
		} else {
			sentinels = []error{coord.ErrInvalidTopic}
		}
	case kerr.InvalidPartitions:
		sentinels = []error{coord.ErrInvalidPartitions}
	case kerr.InvalidReplicationFactor:
		sentinels = []error{coord.ErrInvalidReplicationFactor}
	case kerr.InvalidReplicaAssignment:
		sentinels = []error{coord.ErrInvalidReplicaAssignment}
	case kerr.InvalidConfig, kerr.PolicyViolation:
		sentinels = []error{coord.ErrInvalidConfig}
	case kerr.RequestTimedOut:
		// The broker waited too long for meta/lock (a writer stopped).
		sentinels = []error{coord.ErrMetadataLocked}
	case kerr.BrokerNotAvailable:
		sentinels = []error{coord.ErrNoBroker}
	}
	return &adminError{msg: text, errs: append(sentinels, kerrv)}
}

// adminError reads as its message while errors.Is finds the mk sentinels
// and the Kafka error.
type adminError struct {
	msg  string
	errs []error
}

func (e *adminError) Error() string   { return e.msg }
func (e *adminError) Unwrap() []error { return e.errs }

// CreateTopic creates a topic through a live broker (CreateTopics), or,
// with no broker alive, by writing the metadata itself. partitions and
// replicationFactor of 0 take the cluster's defaults. The topic returned
// is read back from the metadata the broker wrote.
func CreateTopic(c *coord.Cluster, name string, partitions, replicationFactor int, config map[string]string, deadline time.Time) (*coord.Topic, error) {
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	cc := c.ClusterConfig()
	if partitions == 0 {
		partitions = cc.NumPartitions
	}
	if replicationFactor == 0 {
		replicationFactor = cc.DefaultReplicationFactor
	}
	if replicationFactor > math.MaxInt16 {
		return nil, fmt.Errorf("%w: replication factor %d is over Kafka's limit of %d", coord.ErrInvalidReplicationFactor, replicationFactor, math.MaxInt16)
	}
	if err := coord.CheckPartitionCount(name, partitions, partitions); err != nil {
		return nil, err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	// Answered once the topic is written, as mk wrote it itself: not
	// after its leaders have taken their replicas (kmsg's default is 60 s).
	req.TimeoutMillis = 0
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions, rt.ReplicationFactor = int32(partitions), int16(replicationFactor)
	for k, v := range config {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, &v
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrCreateTopicsResponse()
	err := AdminRequest(c, deadline, req, resp)
	if errors.Is(err, ErrNoLiveBroker) {
		return c.CreateTopic(name, partitions, replicationFactor, config)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("create topic %s: the broker answered for %d topics", name, len(resp.Topics))
	}
	if err := AdminError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage); err != nil {
		return nil, err
	}
	return c.Topic(name)
}
