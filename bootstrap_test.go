package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// mk --bootstrap-server against franz-go's kfake: a Kafka broker mk did
// not write, in this test process. The mk binary runs as a child process,
// as a user runs it.

type mkResult struct {
	out, err string
	code     int
	took     time.Duration
}

// runMK runs mk with args (and stdin), in env (added to the test's).
func runMK(t *testing.T, stdin string, env []string, args ...string) mkResult {
	t.Helper()
	cmd := exec.Command("mk", args...)
	cmd.Env = append(append(os.Environ(), "MK_DIR="+filepath.Join(t.TempDir(), "nocluster")), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := mkResult{out: out.String(), err: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// mkOK runs mk and fails the test unless it exits 0.
func mkOK(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := runMK(t, stdin, nil, args...)
	if r.code != 0 {
		t.Fatalf("mk %s: exit %d\n%s", strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

func match(t *testing.T, what, out, re string) {
	t.Helper()
	if !regexp.MustCompile("(?m)" + re).MatchString(out) {
		t.Fatalf("%s: no match for %q in:\n%s", what, re, out)
	}
}

func kfakeCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

func TestBootstrapTopics(t *testing.T) {
	b := kfakeCluster(t)
	mkOK(t, "", "topic", "create", "orders", "-b", b, "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=3600000")
	r := runMK(t, "", nil, "topic", "create", "orders", "-b", b)
	if r.code != 1 || r.err != "mk: topic orders already exists\n" {
		t.Fatalf("create again: %d %q", r.code, r.err)
	}
	mkOK(t, "", "topic", "create", "orders", "-b", b, "--if-not-exists")
	out := mkOK(t, "", "topic", "list", "-b", b)
	match(t, "topic list", out, `^TOPIC\s+PARTITIONS\s+REPLICATION-FACTOR\s+CONFIGS\n`+`orders\s+3\s+1\s+retention.ms=3600000$`)
	out = mkOK(t, "", "describe", "topic", "orders", "-b", b)
	match(t, "describe topic", out, `^Partitions:\s+3$`)
	match(t, "describe topic", out, `^Configs:\s+retention.ms=3600000$`)
	match(t, "describe topic", out, `^0\s+\d+\s+\d+\s+\d+\s+0\s+0\s+-\s+\S+`)
	var v struct {
		Topic      string
		TopicID    string `json:"topic_id"`
		Partitions []struct {
			LogEndOffset int64 `json:"log_end_offset"`
		}
	}
	if err := json.Unmarshal([]byte(mkOK(t, "", "topic", "describe", "orders", "-o", "json", "-b", b)), &v); err != nil || len(v.Partitions) != 3 || v.TopicID == "" || v.Partitions[0].LogEndOffset != -1 {
		t.Fatalf("describe -o json: %+v %v", v, err)
	}
	mkOK(t, "", "topic", "alter", "orders", "-b", b, "--partitions", "4", "--delete-config", "retention.ms")
	match(t, "after alter", mkOK(t, "", "topic", "list", "-b", b), `^orders\s+4\s+1\s+-$`)
	r = runMK(t, "", nil, "topic", "alter", "orders", "-b", b, "--partitions", "2")
	if r.code != 2 || !strings.Contains(r.err, "cannot shrink to 2") {
		t.Fatalf("shrink: %d %q", r.code, r.err)
	}
	out = mkOK(t, "", "describe", "topics", "-b", b)
	match(t, "describe topics", out, `^Topic:\s+orders$`)
	out = mkOK(t, "", "describe", "cluster", "-b", b)
	match(t, "describe cluster", out, `^BROKER\s+STATE\s+PID\s+CONTROLLER\s+PARTITIONS\s+LEADERS\s+SIZE\s+ADDRESS\n\d+\s+alive\s+-\s+yes\s+4\s+4\s+.+\s+`+regexp.QuoteMeta(b)+`$`)
	mkOK(t, "", "topic", "delete", "orders", "-b", b)
	r = runMK(t, "", nil, "topic", "delete", "orders", "-b", b)
	if r.code != 4 || r.err != "mk: unknown topic orders\n" {
		t.Fatalf("delete again: %d %q", r.code, r.err)
	}
	mkOK(t, "", "topic", "delete", "orders", "-b", b, "--if-exists")
	r = runMK(t, "", nil, "describe", "topic", "orders", "-b", b)
	if r.code != 4 || r.err != "mk: unknown topic orders\n" {
		t.Fatalf("describe deleted: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, "topic", "create", "bad/name", "-b", b)
	if r.code != 2 {
		t.Fatalf("invalid name: %d %q", r.code, r.err)
	}
}

func TestBootstrapProduceConsume(t *testing.T) {
	b := kfakeCluster(t)
	mkOK(t, "", "topic", "create", "orders", "-b", b, "--partitions", "3")
	out := mkOK(t, "u1:book\nu2:pen\nu1:lamp\n", "produce", "orders", "-b", b, "--key-separator", ":", "--print-offsets", "-H", "src=web")
	match(t, "print offsets", out, `^orders \d 0$`)
	if n := strings.Count(out, "\n"); n != 3 {
		t.Fatalf("print offsets: %q", out)
	}
	out = mkOK(t, "", "consume", "orders", "-b", b, "--from-beginning", "-e", "--print-key")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Index(out, "u1\tbook") > strings.Index(out, "u1\tlamp") {
		t.Fatalf("consume: %q", out)
	}
	// -e alone reads from the beginning; -o json is read back by produce.
	js := mkOK(t, "", "consume", "orders", "-b", b, "-e", "-o", "json")
	match(t, "json", js, `"headers":\[\{"key":"src","value":"web"\}\]`)
	mkOK(t, "", "topic", "create", "copy", "-b", b, "--partitions", "3")
	mkOK(t, js, "produce", "copy", "-b", b, "--input", "json")
	if got := mkOK(t, "", "consume", "copy", "-b", b, "-e", "--format", "{{.Key}}={{.Value}}\\n"); len(strings.Split(strings.TrimSpace(got), "\n")) != 3 {
		t.Fatalf("copy: %q", got)
	}
	out = mkOK(t, "", "tail", "orders", "-b", b, "-n", "1", "-e")
	if n := strings.Count(out, "\n"); n < 1 || n > 3 {
		t.Fatalf("tail: %q", out)
	}
	r := runMK(t, "", nil, "consume", "nosuch", "-b", b, "-e")
	if r.code != 4 || r.err != "mk: unknown topic nosuch\n" {
		t.Fatalf("unknown topic: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, "consume", "orders", "-b", b, "-e", "--partition", "9")
	if r.code != 4 {
		t.Fatalf("partition 9: %d %q", r.code, r.err)
	}
	r = runMK(t, "x\n", nil, "produce", "orders", "-b", b, "--partition", "9")
	if r.code != 4 {
		t.Fatalf("produce to partition 9: %d %q", r.code, r.err)
	}
	// Auto-creation: the cluster creates it and mk says so.
	r = runMK(t, "a\n", nil, "produce", "fresh", "-b", b)
	if r.code != 0 || !strings.Contains(r.err, "topic fresh did not exist: created it with 1 partition(s), replication factor 1") {
		t.Fatalf("auto-create: %d %q", r.code, r.err)
	}
	// A malformed JSON line names the line; the records before it are in.
	r = runMK(t, "{\"value\":\"ok\"}\n{bad\n", nil, "produce", "fresh", "-b", b, "--input", "json")
	if r.code != 1 || !strings.Contains(r.err, "line 2") {
		t.Fatalf("bad json: %d %q", r.code, r.err)
	}
	// Benchmarks.
	match(t, "bench produce", mkOK(t, "", "bench", "produce", "-b", b, "--records", "2000"), `^2000 records sent in`)
	match(t, "bench consume", mkOK(t, "", "bench", "consume", "-b", b), `^2000 records read in`)
	match(t, "bench e2e", mkOK(t, "", "bench", "e2e", "-b", b, "--records", "50", "--rate", "500"), `^50 records produced and consumed in .* latency avg`)
}

func TestBootstrapGroups(t *testing.T) {
	b := kfakeCluster(t)
	mkOK(t, "", "topic", "create", "t", "-b", b, "--partitions", "2")
	mkOK(t, "a\nb\nc\nd\n", "produce", "t", "-b", b)
	r := runMK(t, "", nil, "describe", "group", "g1", "-b", b)
	if r.code != 4 || r.err != "mk: unknown group g1\n" {
		t.Fatalf("unknown group: %d %q", r.code, r.err)
	}
	if out := mkOK(t, "", "consume", "t", "-b", b, "--group", "g1", "-e"); strings.Count(out, "\n") != 4 {
		t.Fatalf("group -e: %q", out)
	}
	if out := mkOK(t, "", "consume", "t", "-b", b, "--group", "g1", "-e"); out != "" {
		t.Fatalf("group -e again: %q", out)
	}
	out := mkOK(t, "", "describe", "group", "g1", "-b", b)
	match(t, "describe group", out, `^State:\s+Empty$`)
	match(t, "describe group", out, `^Generation:\s+-$`)
	match(t, "describe group", out, `^g1\s+t\s+[01]\s+(\d+)\s+\d+\s+0\s+-\s+-\s+-$`)
	match(t, "group list", mkOK(t, "", "group", "list", "-b", b), `^g1\s+consumer\s+Empty\s+0\s+t\s+0$`)
	out = mkOK(t, "", "group", "reset-offsets", "g1", "-b", b, "--topic", "t", "--to-earliest")
	match(t, "dry run", out, `^g1\s+t\s+0\s+0$`)
	match(t, "dry run changed nothing", mkOK(t, "", "group", "list", "-b", b), `^g1\s+consumer\s+Empty\s+0\s+t\s+0$`)
	mkOK(t, "", "group", "reset-offsets", "g1", "-b", b, "--all-topics", "--to-earliest", "--execute")
	match(t, "after reset", mkOK(t, "", "group", "list", "-o", "json", "-b", b), `"lag": 4`)
	r = runMK(t, "", nil, "group", "reset-offsets", "g1", "-b", b, "--topic", "t:x", "--to-earliest")
	if r.code != 2 {
		t.Fatalf("bad partitions: %d %q", r.code, r.err)
	}
	if out := mkOK(t, "", "consume", "t", "-b", b, "--group", "g1", "-e", "--strategy", "sticky", "--commit", "sync"); strings.Count(out, "\n") != 4 {
		t.Fatalf("group after reset: %q", out)
	}
	mkOK(t, "", "group", "delete-offsets", "g1", "-b", b, "--topic", "t")
	r = runMK(t, "", nil, "group", "delete-offsets", "g1", "-b", b, "--topic", "t")
	if r.code == 0 {
		t.Fatalf("delete-offsets twice: %q", r.err)
	}
	mkOK(t, "", "group", "delete", "g1", "-b", b)
}

func TestBootstrapSASL(t *testing.T) {
	b := kfakeCluster(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "alice", "s3cret"))
	sasl := []string{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "alice"}
	r := runMK(t, "", []string{"MK_SASL_PASSWORD=s3cret"}, append([]string{"topic", "create", "t", "-b", b}, sasl...)...)
	if r.code != 0 {
		t.Fatalf("create with SASL: %d %q", r.code, r.err)
	}
	r = runMK(t, "hello\n", []string{"MK_SASL_PASSWORD=s3cret"}, append([]string{"produce", "t", "-b", b}, sasl...)...)
	if r.code != 0 {
		t.Fatalf("produce with SASL: %d %q", r.code, r.err)
	}
	r = runMK(t, "", []string{"MK_SASL_PASSWORD=s3cret"}, append([]string{"consume", "t", "-e", "-b", b}, sasl...)...)
	if r.code != 0 || r.out != "hello\n" {
		t.Fatalf("consume with SASL: %d %q %q", r.code, r.out, r.err)
	}
	r = runMK(t, "", []string{"MK_SASL_PASSWORD=wrong"}, append([]string{"topic", "list", "-b", b}, sasl...)...)
	if r.code != 1 || !strings.HasPrefix(r.err, "mk: SASL authentication with broker "+b+" failed") {
		t.Fatalf("wrong password: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, append([]string{"topic", "list", "-b", b}, sasl...)...)
	if r.code != 2 || !strings.Contains(r.err, "MK_SASL_PASSWORD") {
		t.Fatalf("no password: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, "topic", "list", "--sasl-user", "alice")
	if r.code != 2 {
		t.Fatalf("--sasl-user without -b: %d %q", r.code, r.err)
	}
}

func TestBootstrapTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mk test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	b := kfakeCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}))
	mkOK(t, "", "topic", "create", "t", "-b", b, "--tls", "--tls-ca", caFile)
	mkOK(t, "", "topic", "list", "-b", b, "--tls", "--tls-insecure")
	r := runMK(t, "", nil, "topic", "list", "-b", b, "--tls")
	if r.code != 1 || !strings.HasPrefix(r.err, "mk: TLS with broker "+b+" failed: ") {
		t.Fatalf("untrusted: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, "topic", "list", "-b", b, "--tls-ca", caFile)
	if r.code != 2 {
		t.Fatalf("--tls-ca without --tls: %d %q", r.code, r.err)
	}
}

func TestBootstrapUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"topic", "list"}, {"consume", "t", "-e"}, {"describe", "cluster"}, {"group", "list"}} {
		r := runMK(t, "x\n", nil, append(args, "-b", refused, "--timeout", "10s")...)
		if r.code != 5 || r.err != "mk: cannot connect to broker "+refused+": connection refused\n" || r.took > 5*time.Second {
			t.Fatalf("mk %v, refused: %d %q after %s", args, r.code, r.err, r.took)
		}
	}
	r := runMK(t, "x\n", nil, "produce", "t", "-b", refused)
	if r.code != 5 || !strings.Contains(r.err, refused) {
		t.Fatalf("produce, refused: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, "topic", "list", "-b", "no-such-host.invalid:9092", "--timeout", "10s")
	if r.code != 5 || !strings.HasPrefix(r.err, "mk: cannot connect to broker no-such-host.invalid:9092: ") {
		t.Fatalf("unknown host: %d %q", r.code, r.err)
	}
	r = runMK(t, "", nil, "topic", "list", "-b", "nocolon")
	if r.code != 2 {
		t.Fatalf("no port: %d %q", r.code, r.err)
	}
	// A listener that accepts and never answers.
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
	for _, args := range [][]string{{"topic", "list"}, {"consume", "t", "-e"}} {
		r := runMK(t, "", nil, append(args, "-b", bh.Addr().String(), "--timeout", "2s")...)
		if r.code != 5 || !strings.Contains(r.err, bh.Addr().String()) || strings.Count(r.err, "\n") != 1 || r.took > 4*time.Second {
			t.Fatalf("mk %v, no answer: %d %q after %s", args, r.code, r.err, r.took)
		}
	}
}
