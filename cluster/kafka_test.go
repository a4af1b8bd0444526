package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// These tests run the Kafka implementation against franz-go's kfake: a
// Kafka broker mk did not write, in memory, speaking the whole protocol.

func startKfake(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func dial(t *testing.T, c *kfake.Cluster, mod ...func(*KafkaOptions)) *Kafka {
	t.Helper()
	o := KafkaOptions{Bootstrap: c.ListenAddrs(), Timeout: 10 * time.Second}
	for _, m := range mod {
		m(&o)
	}
	k, err := DialKafka(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestKafkaTopicAdmin(t *testing.T) {
	k := dial(t, startKfake(t, kfake.NumBrokers(3)))
	v, err := k.CreateTopic(ctx(t), TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 2, Config: map[string]string{"retention.ms": "60000"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.PartitionCount != 3 || v.ReplicationFactor != 2 || v.TopicID == "" {
		t.Fatalf("created %+v", v)
	}
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "orders", Partitions: 1}); !errors.Is(err, coord.ErrTopicExists) || err.Error() != "topic orders already exists" {
		t.Fatalf("create again: %v", err)
	}
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "bad/name"}); !errors.Is(err, coord.ErrInvalidTopic) {
		t.Fatalf("invalid name: %v", err)
	}
	d, err := k.Topic(ctx(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if d.TopicID != v.TopicID || len(d.Partitions) != 3 || d.ConfigSummary() != "retention.ms=60000" {
		t.Fatalf("describe %+v", d)
	}
	for _, p := range d.Partitions {
		if p.Leader < 0 || len(p.Replicas) != 2 || p.HighWatermark != 0 || p.LogStartOffset != 0 || p.LogEndOffset != -1 {
			t.Fatalf("partition %+v", p)
		}
	}
	if err := k.AlterTopic(ctx(t), "orders", TopicChange{Partitions: 5, SetConfig: map[string]string{"segment.bytes": "1048576"}, DeleteConfig: []string{"retention.ms"}}); err != nil {
		t.Fatal(err)
	}
	d, _ = k.Topic(ctx(t), "orders")
	if d.PartitionCount != 5 || d.ConfigSummary() != "segment.bytes=1048576" {
		t.Fatalf("after alter %+v", d)
	}
	if err := k.AlterTopic(ctx(t), "orders", TopicChange{Partitions: 2}); !errors.Is(err, coord.ErrInvalidPartitions) {
		t.Fatalf("shrink: %v", err)
	}
	ts, damaged, err := k.Topics(ctx(t))
	if err != nil || len(damaged) > 0 || len(ts) != 1 || ts[0].Topic != "orders" {
		t.Fatalf("topics %v %v %v", ts, damaged, err)
	}
	cv, _, err := k.DescribeCluster(ctx(t))
	if err != nil || len(cv.Brokers) != 3 || cv.Controller < 0 {
		t.Fatalf("cluster %+v %v", cv, err)
	}
	parts := 0
	for _, b := range cv.Brokers {
		parts += b.Partitions
		if b.Pid != 0 || b.State != "alive" {
			t.Fatalf("broker %+v", b)
		}
	}
	if parts != 10 {
		t.Fatalf("replicas over brokers: %d, want 10", parts)
	}
	if err := k.DeleteTopic(ctx(t), "orders"); err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteTopic(ctx(t), "orders"); !errors.Is(err, coord.ErrUnknownTopic) {
		t.Fatalf("delete again: %v", err)
	}
	if v, err := k.Topic(ctx(t), "orders"); !errors.Is(err, coord.ErrUnknownTopic) || err.Error() != "unknown topic orders" {
		t.Logf("%+v", v)
		t.Fatalf("describe deleted: %v", err)
	}
}

type collected struct {
	mu   sync.Mutex
	recs []string // "topic/partition/offset key=value h=v"
}

func (c *collected) handler(max int) client.Handler {
	return func(topic string, partition int32, r *logdir.Record) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		s := fmt.Sprintf("%s/%d/%d %s=%s", topic, partition, r.Offset, r.Key, r.Value)
		for _, h := range r.Headers {
			s += fmt.Sprintf(" %s:%s", h.Key, h.Value)
		}
		c.recs = append(c.recs, s)
		if max > 0 && len(c.recs) >= max {
			return client.ErrStop
		}
		return nil
	}
}

func (c *collected) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

func produce(t *testing.T, k *Kafka, topic string, opts ProducerOptions, recs ...[2]string) Producer {
	t.Helper()
	p, err := k.NewProducer(ctx(t), topic, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var key []byte
		if r[0] != "" {
			key = []byte(r[0])
		}
		if err := p.Send(-1, time.Now().UnixMilli(), key, []byte(r[1]), []logdir.Header{{Key: []byte("src"), Value: []byte("test")}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKafkaProduceConsume(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	var acks []string
	var mu sync.Mutex
	p := produce(t, k, "t", ProducerOptions{Acks: client.AcksAll, OnAck: func(p int32, base int64, n int) {
		mu.Lock()
		acks = append(acks, fmt.Sprintf("%d/%d", p, base))
		mu.Unlock()
	}}, [2]string{"u1", "book"}, [2]string{"u2", "pen"}, [2]string{"u1", "lamp"})
	if p.Acked() != 3 || p.Failed() != 0 || len(acks) != 3 {
		t.Fatalf("acked %d failed %d acks %v", p.Acked(), p.Failed(), acks)
	}
	var got collected
	err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}}, got.handler(0))
	if err != nil {
		t.Fatal(err)
	}
	recs := got.get()
	if len(recs) != 3 {
		t.Fatalf("consumed %v", recs)
	}
	// Keys land where Kafka's Java client puts them (murmur2).
	for _, r := range recs {
		key := r[strings.Index(r, " ")+1 : strings.Index(r, "=")]
		if want := client.KeyPartition([]byte(key), 3); !strings.HasPrefix(r, fmt.Sprintf("t/%d/", want)) {
			t.Fatalf("record %s: want partition %d", r, want)
		}
		if !strings.HasSuffix(r, " src:test") {
			t.Fatalf("record %s: no header", r)
		}
	}
	// The last record of the partition u1 went to, from the end.
	p1 := client.KeyPartition([]byte("u1"), 3)
	var last collected
	if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: int(p1), Start: client.StartSpec{FromEnd: 1}}, last.handler(0)); err != nil {
		t.Fatal(err)
	}
	if r := last.get(); len(r) != 1 || !strings.HasSuffix(r[0], "u1=lamp src:test") {
		t.Fatalf("from end: %v", r)
	}
	// An offset outside the log, a partition the topic does not have.
	err = k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: int(p1), Start: client.StartSpec{Offset: 99}}, last.handler(0))
	if !errors.Is(err, logdir.ErrOffsetOutOfRange) {
		t.Fatalf("offset 99: %v", err)
	}
	if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: 7}, last.handler(0)); !errors.Is(err, client.ErrPartitionRange) {
		t.Fatalf("partition 7: %v", err)
	}
	if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"nosuch"}, Partition: -1}, last.handler(0)); !errors.Is(err, coord.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	// By time: a time after every record reads nothing; before 1970, all.
	var none, all collected
	if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{ByTime: true, FromTime: time.Now().Add(time.Hour).UnixMilli()}}, none.handler(0)); err != nil || len(none.get()) != 0 {
		t.Fatalf("from the future: %v %v", none.get(), err)
	}
	if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{ByTime: true, FromTime: -5}}, all.handler(0)); err != nil || len(all.get()) != 3 {
		t.Fatalf("from before 1970: %v %v", all.get(), err)
	}
	// A following consumer sees a record produced after it started, and
	// the records of a partition added meanwhile.
	var follow collected
	fctx, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() {
		h := follow.handler(0)
		done <- k.Consume(fctx, ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: client.Latest}, Follow: true},
			func(topic string, partition int32, r *logdir.Record) error {
				h(topic, partition, r)
				if string(r.Value) == "in-new" {
					return client.ErrStop
				}
				return nil
			})
	}()
	waitFor(t, func() bool {
		produce(t, k, "t", ProducerOptions{Acks: client.AcksLeader}, [2]string{"u3", "new"})
		return len(follow.get()) > 0
	})
	if err := k.AlterTopic(ctx(t), "t", TopicChange{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	pp, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	pp.Send(3, time.Now().UnixMilli(), nil, []byte("in-new"), nil)
	if err := pp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the following consumer did not see the new partition: %v", follow.get())
	}
	cancel()
	if r := follow.get(); !strings.HasPrefix(r[len(r)-1], "t/3/0 =in-new") {
		t.Fatalf("followed %v", r)
	}
}

// waitFor retries cond until it holds, for 15 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 15s")
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

func TestKafkaProduceAutoCreate(t *testing.T) {
	k := dial(t, startKfake(t, kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(2)))
	var created string
	produce(t, k, "auto", ProducerOptions{Acks: client.AcksAll, AutoCreate: true, OnCreate: func(topic string, p, rf int) {
		created = fmt.Sprintf("%s %d %d", topic, p, rf)
	}}, [2]string{"", "x"})
	if created != "auto 2 1" {
		t.Fatalf("created %q", created)
	}
	k2 := dial(t, startKfake(t))
	if _, err := k2.NewProducer(ctx(t), "auto", ProducerOptions{AutoCreate: true}); !errors.Is(err, coord.ErrUnknownTopic) {
		t.Fatalf("a cluster that does not auto-create: %v", err)
	}
	if _, err := k2.NewProducer(ctx(t), "auto", ProducerOptions{}); !errors.Is(err, coord.ErrUnknownTopic) {
		t.Fatalf("no auto-create: %v", err)
	}
}

func TestKafkaProduceTooLarge(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "small", Partitions: 1, Config: map[string]string{"max.message.bytes": "1000"}}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "small", ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.MaxMessageBytes() != 1000 {
		t.Fatalf("max.message.bytes %d", p.MaxMessageBytes())
	}
	var big *client.RecordTooLargeError
	if err := p.Send(-1, 0, nil, make([]byte, 2000), nil); !errors.As(err, &big) {
		t.Fatalf("large record: %v", err)
	}
	if err := p.Send(5, 0, nil, []byte("x"), nil); !errors.Is(err, client.ErrPartitionRange) {
		t.Fatalf("partition 5: %v", err)
	}
}

func TestKafkaGroup(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	var recs [][2]string
	for i := range 10 {
		recs = append(recs, [2]string{fmt.Sprint("k", i), fmt.Sprint("v", i)})
	}
	produce(t, k, "t", ProducerOptions{Acks: client.AcksAll}, recs...)
	if _, _, err := k.Group(ctx(t), "g"); !errors.Is(err, coord.ErrUnknownGroup) {
		t.Fatalf("unknown group: %v", err)
	}
	// A new group with -e reads every record (reset to the beginning),
	// commits, leaves.
	var got collected
	opts := client.GroupOptions{Group: "g", ClientID: "mk-test", Strategy: "range", ResetEarliest: true, ExitAtEnd: true}
	if err := k.ConsumeGroup(ctx(t), []string{"t"}, opts, got.handler(0)); err != nil {
		t.Fatal(err)
	}
	if n := len(got.get()); n != 10 {
		t.Fatalf("group read %d records", n)
	}
	v, _, err := k.Group(ctx(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	if v.State != "Empty" || v.Lag != 0 || len(v.Offsets) != 2 || !slices.Equal(v.Topics, []string{"t"}) {
		t.Fatalf("group after -e: %+v", v)
	}
	for _, r := range v.Offsets {
		if r.CurrentOffset != r.LogEndOffset || r.CurrentOffset <= 0 {
			t.Fatalf("row %+v", r)
		}
	}
	// Again: nothing new, exits at once.
	var again collected
	if err := k.ConsumeGroup(ctx(t), []string{"t"}, opts, again.handler(0)); err != nil || len(again.get()) != 0 {
		t.Fatalf("second run: %v %v", again.get(), err)
	}
	// Reset to the earliest, then the group reads everything again.
	rows, err := PlanReset(ctx(t), k, ResetSpec{Group: "g", AllTopics: true, To: ResetEarliest, Execute: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].NewOffset != 0 || rows[1].NewOffset != 0 {
		t.Fatalf("plan %+v", rows)
	}
	var third collected
	if err := k.ConsumeGroup(ctx(t), []string{"t"}, opts, third.handler(0)); err != nil || len(third.get()) != 10 {
		t.Fatalf("after reset: %d %v", len(third.get()), err)
	}
	// A live member: describe shows it, reset and delete are refused.
	live := make(chan error, 1)
	lctx, stop := context.WithCancel(ctx(t))
	var lgot collected
	go func() {
		live <- k.ConsumeGroup(lctx, []string{"t"}, client.GroupOptions{Group: "g", ClientID: "live"}, lgot.handler(0))
	}()
	waitFor(t, func() bool {
		v, _, err := k.Group(ctx(t), "g")
		return err == nil && v.State == "Stable" && len(v.Members) == 1 && len(v.Members[0].Partitions) == 2
	})
	v, _, _ = k.Group(ctx(t), "g")
	if v.Strategy != "range" || v.ProtocolType != "consumer" || v.Offsets[0].ClientID != "live" {
		t.Fatalf("live group %+v", v)
	}
	if _, err := PlanReset(ctx(t), k, ResetSpec{Group: "g", AllTopics: true, To: ResetLatest}); !errors.Is(err, coord.ErrGroupActive) {
		t.Fatalf("reset of a live group: %v", err)
	}
	if err := k.DeleteGroup(ctx(t), "g"); !errors.Is(err, coord.ErrGroupActive) {
		t.Fatalf("delete of a live group: %v", err)
	}
	stop()
	if err := <-live; err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		v, _, err := k.Group(ctx(t), "g")
		return err == nil && v.State == "Empty"
	})
	// Shift back by 2 on partition 0; delete the topic's offsets; delete.
	rows, err = PlanReset(ctx(t), k, ResetSpec{Group: "g", Topics: []string{"t:0"}, To: ResetShiftBy, Value: -2, Execute: true})
	if err != nil || len(rows) != 1 {
		t.Fatalf("shift: %+v %v", rows, err)
	}
	v, _, _ = k.Group(ctx(t), "g")
	if c, _ := v.Committed(coord.TopicPartition{Topic: "t", Partition: 0}); c != rows[0].NewOffset || v.Lag != 2 {
		t.Fatalf("after shift %+v", v)
	}
	gs, _, err := k.Groups(ctx(t))
	if err != nil || len(gs) != 1 || gs[0].Group != "g" {
		t.Fatalf("groups %v %v", gs, err)
	}
	if err := k.DeleteGroupOffsets(ctx(t), "g", "t"); err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteGroupOffsets(ctx(t), "g", "t"); err == nil {
		t.Fatal("offsets deleted twice")
	}
	if err := k.DeleteGroup(ctx(t), "g"); err != nil && !errors.Is(err, coord.ErrUnknownGroup) {
		t.Fatal(err)
	}
}

func TestKafkaSASL(t *testing.T) {
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c := startKfake(t, kfake.EnableSASL(), kfake.Superuser(mech, "alice", "s3cret"))
			k := dial(t, c, func(o *KafkaOptions) { o.SASLMechanism, o.SASLUser, o.SASLPassword = mech, "alice", "s3cret" })
			if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			produce(t, k, "t", ProducerOptions{Acks: client.AcksAll}, [2]string{"", "hello"})
			var got collected
			if err := k.Consume(ctx(t), ConsumeSpec{Topics: []string{"t"}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}}, got.handler(0)); err != nil || len(got.get()) != 1 {
				t.Fatalf("consume: %v %v", got.get(), err)
			}
			_, err := DialKafka(context.Background(), KafkaOptions{Bootstrap: c.ListenAddrs(), Timeout: 5 * time.Second,
				SASLMechanism: mech, SASLUser: "alice", SASLPassword: "wrong"})
			var ce *ConnError
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "SASL authentication with broker "+c.ListenAddrs()[0]+" failed: ") || errors.Is(err, coord.ErrNoBroker) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, cert tls.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mk test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestKafkaTLS(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t)
	c := startKfake(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	addr := c.ListenAddrs()[0]
	// Trusting the certificate's CA.
	cfg, err := TLSConfig(certFile, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	k := dial(t, c, func(o *KafkaOptions) { o.TLS = cfg })
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// A client certificate is sent when asked for.
	if _, err := TLSConfig(certFile, certFile, keyFile, false); err != nil {
		t.Fatal(err)
	}
	// The system's roots do not know a self-signed certificate.
	sys, _ := TLSConfig("", "", "", false)
	_, err = DialKafka(context.Background(), KafkaOptions{Bootstrap: []string{addr}, Timeout: 5 * time.Second, TLS: sys})
	if err == nil || !strings.HasPrefix(err.Error(), "TLS with broker "+addr+" failed") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	// --tls-insecure skips the check.
	insecure, _ := TLSConfig("", "", "", true)
	dial(t, c, func(o *KafkaOptions) { o.TLS = insecure })
	// Plaintext against the TLS listener fails clearly, within the timeout.
	start := time.Now()
	_, err = DialKafka(context.Background(), KafkaOptions{Bootstrap: []string{addr}, Timeout: 3 * time.Second})
	if err == nil || !strings.Contains(err.Error(), addr) || time.Since(start) > 6*time.Second {
		t.Fatalf("plaintext to TLS: %v after %s", err, time.Since(start))
	}
}

func TestKafkaUnreachable(t *testing.T) {
	// A port nobody listens on: refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = DialKafka(context.Background(), KafkaOptions{Bootstrap: []string{refused}, Timeout: 10 * time.Second})
	if !errors.Is(err, coord.ErrNoBroker) || err.Error() != "cannot connect to broker "+refused+": connection refused" {
		t.Fatalf("refused: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refused took %s", d)
	}
	// A listener that accepts and never answers: no answer within the
	// timeout.
	bh, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bh.Close()
	go func() {
		for {
			c, err := bh.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	start = time.Now()
	_, err = DialKafka(context.Background(), KafkaOptions{Bootstrap: []string{bh.Addr().String()}, Timeout: 2 * time.Second})
	if !errors.Is(err, coord.ErrNoBroker) || !strings.Contains(err.Error(), bh.Addr().String()) {
		t.Fatalf("blackhole: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("blackhole took %s", d)
	}
}
