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
// version this broker does not serve: UNSUPPORTED_VERSION with the range
// of ApiVersions alone, as Kafka's ApiVersionsRequest.getErrorResponse
// gives it (KIP-511), so the client retries at a version it can use and
// learns the rest from that answer.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	a := apis[apiVersionsKey]
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: apiVersionsKey, MinVersion: a.min, MaxVersion: a.max}}
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
// and version, the pattern [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?:
// letters, digits, '.' and '-', beginning and ending with a letter or a
// digit.
func validSoftwareField(s string) bool {
	if s == "" || !alnum(rune(s[0])) || !alnum(rune(s[len(s)-1])) {
		return false
	}
	for _, c := range s {
		if !alnum(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c rune) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
