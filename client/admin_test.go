package client

import (
	"errors"
	"testing"
	"time"

	"mk/coord"
)

// A broker that takes an admin request and does not answer fails it at
// the caller's deadline (mk topic create's --timeout), with one line
// naming the broker; the request is not sent to another broker, since
// the first may still carry it out.
func TestAdminRequestNotAnswered(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	standInBroker(t, c, 1, readForever)
	_, err = CreateTopic(c, "t", 1, 1, nil, time.Now().Add(500*time.Millisecond))
	want := "broker 1 did not answer a CreateTopics request within 500ms: it may still carry it out"
	if err == nil || err.Error() != want || !errors.Is(err, coord.ErrNoBroker) {
		t.Fatalf("err = %v, want %q (unavailable)", err, want)
	}
}
