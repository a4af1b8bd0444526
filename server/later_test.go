package server

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDeferredAnswerKeepsOrder: while a deferred answer waits (an acks=all
// Produce waiting for its ISR), the connection goes on handling the
// requests after it, and every answer still goes out in request order.
func TestDeferredAnswerKeepsOrder(t *testing.T) {
	_, addr, _ := testServer(t, Config{})
	const deferKey, nextKey = 4, 5 // LeaderAndISR, StopReplica: not served by mk, free for this test
	release := make(chan struct{})
	nextHandled := make(chan struct{})
	apis[deferKey] = api{name: "LeaderAndISR", min: 0, max: 7, handle: func(r *request) (kmsg.Response, error) {
		resp := r.kreq.ResponseKind()
		return &deferredResponse{Response: resp, wait: func(ctx context.Context) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}, nil
	}}
	apis[nextKey] = api{name: "StopReplica", min: 0, max: 4, handle: func(r *request) (kmsg.Response, error) {
		close(nextHandled)
		return r.kreq.ResponseKind(), nil
	}}
	defer delete(apis, deferKey)
	defer delete(apis, nextKey)

	nc := dial(t, addr)
	first := kmsg.NewPtrLeaderAndISRRequest()
	second := kmsg.NewPtrStopReplicaRequest()
	third := kmsg.NewPtrApiVersionsRequest()
	var frames []byte
	frames = append(frames, encodeRequest(1, first)...)
	frames = append(frames, encodeRequest(2, second)...)
	frames = append(frames, encodeRequest(3, third)...)
	if _, err := nc.Write(frames); err != nil {
		t.Fatal(err)
	}
	select {
	case <-nextHandled:
	case <-time.After(10 * time.Second):
		t.Fatal("the request after a deferred answer was not handled while it waited")
	}
	// Nothing may be answered before the deferred answer.
	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := nc.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a later request was answered before the deferred one")
	}
	close(release)
	for i, req := range []kmsg.Request{first, second, third} {
		if corr := readAnswer(t, nc, req, req.ResponseKind()); corr != int32(i+1) {
			t.Fatalf("answer %d has correlation id %d", i+1, corr)
		}
	}
}
