package server

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one served API: its version range and its handler.
type api struct {
	name     string
	min, max int16
	handle   func(*request) (kmsg.Response, error)
}

// apis holds every served API by key. Each API's file registers itself in
// an init function, so this table is the whole list of what mk serves.
var apis = map[int16]api{}

// register adds an API. The range is checked against kmsg, whose types
// must be able to decode every version served.
func register(key, min, max int16, handle func(*request) (kmsg.Response, error)) {
	req := kmsg.RequestForKey(key)
	if req == nil || max > req.MaxVersion() || min < 0 || min > max {
		panic("server: bad version range for api key " + kmsg.NameForKey(key))
	}
	if _, dup := apis[key]; dup {
		panic("server: api registered twice: " + kmsg.NameForKey(key))
	}
	apis[key] = api{name: kmsg.NameForKey(key), min: min, max: max, handle: handle}
}

// servedKeys lists the registered API keys in order.
func servedKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ServedVersions reports the range of versions of API key this server
// serves, and whether it serves the API at all.
func ServedVersions(key int16) (min, max int16, ok bool) {
	a, ok := apis[key]
	return a.min, a.max, ok
}
