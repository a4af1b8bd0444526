package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"mk/coord"
)

// KafkaOptions say how to reach a Kafka cluster.
type KafkaOptions struct {
	// Bootstrap lists HOST:PORT of some of the cluster's brokers.
	Bootstrap []string
	// Timeout bounds connecting and each request's answer (and how long a
	// command waits for a cluster that does not answer).
	Timeout time.Duration
	// ClientID is the client.id the brokers see (default "mk").
	ClientID string
	// TLS, if set, dials every broker with TLS.
	TLS *tls.Config
	// SASL authenticates every connection: Mechanism PLAIN, SCRAM-SHA-256
	// or SCRAM-SHA-512 ("" for none).
	SASLMechanism, SASLUser, SASLPassword string
}

// SASL mechanisms mk speaks.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// ParseBootstrap splits HOST:PORT[,HOST:PORT...] and checks each address.
func ParseBootstrap(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("bootstrap server %q: want HOST:PORT", a)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, errors.New("no bootstrap server: want HOST:PORT[,HOST:PORT...]")
	}
	return out, nil
}

// TLSConfig builds the TLS configuration of --tls: the system's roots, or
// those of caFile; a client certificate from certFile and keyFile;
// insecure skips verifying the brokers' certificates.
func TLSConfig(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (o KafkaOptions) saslMechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(o.SASLMechanism) {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsMechanism(), nil
	case SASLScramSHA256:
		return scram.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsSha256Mechanism(), nil
	case SASLScramSHA512:
		return scram.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", o.SASLMechanism)
}

// Kafka is a Kafka cluster reached through its bootstrap servers.
type Kafka struct {
	opts  KafkaOptions
	cl    *kgo.Client // metadata and admin requests
	adm   *kadm.Client
	watch *connWatch
}

var _ Client = (*Kafka)(nil)

// DialKafka connects to a Kafka cluster: it asks one of the bootstrap
// servers for the cluster's metadata, within opts.Timeout. A cluster that
// cannot be reached is a *ConnError naming the broker.
func DialKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.ClientID == "" {
		opts.ClientID = "mk"
	}
	k := &Kafka{opts: opts, watch: newConnWatch(opts.Bootstrap, opts.SASLMechanism != "")}
	cl, err := k.newClient()
	if err != nil {
		return nil, err
	}
	k.cl, k.adm = cl, kadm.NewClient(cl)
	k.adm.SetTimeoutMillis(int32(min(opts.Timeout, time.Hour).Milliseconds()))
	if err := k.ping(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return k, nil
}

// Close closes the connections.
func (k *Kafka) Close() { k.cl.Close() }

// Bootstrap names the cluster in messages.
func (k *Kafka) Bootstrap() string { return strings.Join(k.opts.Bootstrap, ",") }

// baseOpts are every client's options: addresses, security, timeouts, and
// the hook that remembers why a connection failed.
func (k *Kafka) baseOpts() ([]kgo.Opt, error) {
	mech, err := k.opts.saslMechanism()
	if err != nil {
		return nil, err
	}
	t := k.opts.Timeout
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.opts.Bootstrap...),
		kgo.ClientID(k.opts.ClientID),
		kgo.DialTimeout(min(t, 10*time.Second)),
		// A broker that accepts and never answers holds a request this
		// long before the connection is dropped (request.timeout.ms).
		kgo.RequestTimeoutOverhead(min(t, 10*time.Second)),
		kgo.RetryTimeout(t),
		// Metadata is cached this long: the requests of one command share
		// it, and a retry after NOT_LEADER does not wait long for news.
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.WithHooks(k.watch),
		// Fail fast and quietly: a one-shot command reports its own errors.
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(50*time.Millisecond<<min(tries, 6), time.Second)
		}),
	}
	if k.opts.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(k.opts.TLS))
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func (k *Kafka) newClient(more ...kgo.Opt) (*kgo.Client, error) {
	opts, err := k.baseOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, more...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// ping asks for the cluster's brokers. It gives up as soon as every
// bootstrap server has failed to connect (refused, unknown host, TLS,
// SASL): a one-shot command need not retry those for its whole timeout.
func (k *Kafka) ping(ctx context.Context) error {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	_, err := k.adm.BrokerMetadata(ctx)
	return k.mapErr(ctx, err)
}

// requestContext bounds one exchange with the cluster by the timeout, and
// ends it early when no bootstrap server can be connected to.
func (k *Kafka) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeoutCause(ctx, k.opts.Timeout, errNoAnswer)
	go func() {
		select {
		case <-k.watch.allFailed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

var errNoAnswer = errors.New("no answer")

// mapErr turns a failure of an exchange bounded by requestContext into
// mk's errors: a connection failure names the broker.
func (k *Kafka) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ce := k.watch.failure(); ce != nil && (ctx.Err() != nil || isConnErr(err)) {
		return ce
	}
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(context.Cause(ctx), errNoAnswer)) {
		if errors.Is(context.Cause(ctx), errNoAnswer) {
			return &ConnError{Addr: k.watch.pending(), msg: fmt.Sprintf("no answer from %s within %s", k.watch.pending(), k.opts.Timeout), unavailable: true}
		}
		return err
	}
	return kafkaErr(err)
}

// connWatch is a kgo hook that remembers, per broker address, whether its
// last connection attempt failed and why.
type connWatch struct {
	mu        sync.Mutex
	seeds     []string
	failed    map[string]error
	connected bool
	allFailed chan struct{}
	closed    bool
	last      string // the address of the last failure
	sasl      bool   // connections authenticate: an EOF in their set-up is a refusal
}

func newConnWatch(seeds []string, sasl bool) *connWatch {
	return &connWatch{seeds: seeds, failed: map[string]error{}, allFailed: make(chan struct{}), sasl: sasl}
}

func (w *connWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	addr := net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port))
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.connected = true
		delete(w.failed, addr)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	if prev := w.failed[addr]; prev != nil && !isTransient(prev) && isTransient(err) {
		err = prev // a TLS or SASL failure says more than the retry's EOF
	}
	w.failed[addr], w.last = err, addr
	if w.connected || w.closed {
		return
	}
	for _, s := range w.seeds {
		if w.failed[s] == nil && w.failed[canonical(s)] == nil {
			return
		}
	}
	w.closed = true
	close(w.allFailed)
}

// canonical is HOST:PORT as kgo reports it (an address without a port
// is not accepted by ParseBootstrap, so only the host's form matters).
func canonical(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(h, p)
}

// failure is the last connection failure as a *ConnError, or nil.
func (w *connWatch) failure() *ConnError {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == "" || w.failed[w.last] == nil {
		return nil
	}
	return newConnError(w.last, w.failed[w.last], w.sasl)
}

// pending names the brokers a request may be waiting on.
func (w *connWatch) pending() string { return strings.Join(w.seeds, ",") }

// ConnError is a broker that could not be connected to or did not
// answer. A refused or timed-out connection is unavailable (exit 5):
// retrying later may work. A TLS or SASL failure is not.
type ConnError struct {
	Addr        string
	Err         error
	msg         string
	unavailable bool
}

func (e *ConnError) Error() string { return e.msg }

// Unwrap gives the cause, and coord.ErrNoBroker where retrying may help.
func (e *ConnError) Unwrap() []error {
	errs := []error{}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.unavailable {
		errs = append(errs, coord.ErrNoBroker)
	}
	return errs
}

func newConnError(addr string, err error, sasl bool) *ConnError {
	var (
		cert  *tls.CertificateVerificationError
		recHd tls.RecordHeaderError
		alert tls.AlertError
		uae   x509.UnknownAuthorityError
		hn    x509.HostnameError
		dns   *net.DNSError
	)
	switch {
	case errors.As(err, &cert), errors.As(err, &uae), errors.As(err, &hn), errors.As(err, &recHd), errors.As(err, &alert),
		strings.Contains(err.Error(), "tls:"):
		return &ConnError{Addr: addr, Err: err, msg: fmt.Sprintf("TLS with broker %s failed: %s", addr, tlsCause(err))}
	case isSASLErr(err):
		return &ConnError{Addr: addr, Err: err, msg: fmt.Sprintf("SASL authentication with broker %s failed: %s", addr, saslCause(err))}
	case sasl && errors.Is(err, io.EOF):
		// Some brokers close the connection instead of answering
		// SASL_AUTHENTICATION_FAILED.
		return &ConnError{Addr: addr, Err: err, msg: fmt.Sprintf("SASL authentication with broker %s failed: the broker closed the connection (check --sasl-mechanism, --sasl-user and MK_SASL_PASSWORD)", addr)}
	case errors.As(err, &dns):
		return &ConnError{Addr: addr, Err: err, unavailable: true, msg: fmt.Sprintf("cannot connect to broker %s: unknown host %s", addr, dns.Name)}
	}
	return &ConnError{Addr: addr, Err: err, unavailable: true, msg: fmt.Sprintf("cannot connect to broker %s: %s", addr, netCause(err))}
}
