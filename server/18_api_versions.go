package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

// ApiVersions v0-v4 (v3+ flexible, KIP-511 client software name and
// version). Kafka answers every version with the served ranges; an
// unknown version is answered at v0 with UNSUPPORTED_VERSION (conn.go).
func init() { register(apiVersionsKey, 0, 4, handleApiVersions) }

func handleApiVersions(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if r.version >= 3 && !validSoftwareField(req.ClientSoftwareName) || r.version >= 3 && !validSoftwareField(req.ClientSoftwareVersion) {
		// KIP-511: a name or version that is empty or has characters
		// outside [a-zA-Z0-9.-] is INVALID_REQUEST.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	resp.ApiKeys = servedRanges()
	return resp, nil
}

// unsupportedApiVersions is the v0 answer to an ApiVersions request of a
// version this broker does not serve.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = servedRanges()
	return resp
}

func servedRanges() []kmsg.ApiVersionsResponseApiKey {
	keys := servedKeys()
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys))
	for _, k := range keys {
		a := apis[k]
		out = append(out, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.min, MaxVersion: a.max})
	}
	return out
}

// validSoftwareField is Kafka's check of KIP-511's client software name
// and version: non-empty, letters, digits, '.' and '-' only.
func validSoftwareField(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
