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
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"mk/coord"
)

// KafkaOptions say how to reach a Kafka cluster.
type KafkaOptions struct {
	// Bootstrap lists HOST:PORT of some of the cluster's brokers.
	Bootstrap []string
	// Timeout bounds a one-shot command, connecting included (a step that
	// starts late has half of it: requestContext), and each later request
	// of a long-running one (laterContext).
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
	// dialStart is when DialKafka began: a producer made soon after
	// counts its records' first deadline from there.
	dialStart time.Time
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
	k := &Kafka{opts: opts, dialStart: time.Now(), watch: newConnWatch(opts.Bootstrap, opts.SASLMechanism != "", opts.Timeout)}
	cl, err := k.newClient()
	if err != nil {
		return nil, err
	}
	k.cl, k.adm = cl, kadm.NewClient(cl)
	// Admin requests that wait for the brokers (CreateTopics waits for
	// the new partitions' leaders) give up at half the timeout, so that
	// the broker's own answer (REQUEST_TIMED_OUT, saying what it waited
	// for) comes before the command's deadline.
	k.adm.SetTimeoutMillis(int32(min(requestTimeout(opts.Timeout), time.Hour).Milliseconds()))
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
		kgo.Dialer(k.watch.dialer(min(t, 10*time.Second), k.opts.TLS)),
		// A broker that accepts and never answers (stopped, hung) holds a
		// request this long before the connection is dropped
		// (request.timeout.ms): half the command's timeout, so that kgo
		// can still ask another broker within it, as Kafka's clients
		// keep request.timeout.ms under their api timeout.
		kgo.RequestTimeoutOverhead(requestTimeout(t)),
		kgo.RetryTimeout(t),
		// Metadata is cached this long: the requests of one command share
		// it, and a retry after NOT_LEADER does not wait long for news.
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.WithHooks(k.watch),
		// No KIP-714 metrics pushes: a one-shot command has none worth
		// sending, and closing a client waits up to a second for the
		// last push (to a broker that may not answer).
		kgo.DisableClientMetrics(),
		// Fail fast and quietly: a one-shot command reports its own errors.
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(50*time.Millisecond<<min(tries, 6), time.Second)
		}),
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// requestTimeout is how long a broker may take to answer one request
// (beyond the time the request asks it to wait, such as a produce's
// acks) before kgo gives up on the connection and retries elsewhere.
func requestTimeout(t time.Duration) time.Duration {
	return max(min(t/2, 10*time.Second), 100*time.Millisecond)
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

// requestContext bounds one exchange with the cluster, and ends it early
// when no bootstrap server can be connected to. It ends with the timeout
// of DialKafka, but has half the timeout at least: a one-shot command,
// connecting included, ends within its --timeout, not a timeout per step
// (a step that starts late, the cluster being slow but answering, still
// has time to be answered; it never gets a whole timeout afresh).
func (k *Kafka) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	t := k.opts.Timeout
	return k.contextUntil(ctx, maxTime(k.dialStart.Add(t), time.Now().Add(t/2)))
}

// laterContext is requestContext for the exchanges of a long-running
// command after its start (a group member's assignment, a consumer's
// topic check): each has the whole timeout.
func (k *Kafka) laterContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return k.contextUntil(ctx, time.Now().Add(k.opts.Timeout))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (k *Kafka) contextUntil(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithDeadlineCause(ctx, deadline, errNoAnswer)
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
// mk's errors: a connection failure names the broker, and so does a
// deadline passed while a broker had not answered a request.
func (k *Kafka) mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		if na := k.watch.noAnswer(); na != nil {
			return na
		}
	}
	if ce := k.watch.failure(); ce != nil && (ctx.Err() != nil || isConnErr(err)) {
		return ce
	}
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(context.Cause(ctx), errNoAnswer)) {
		if errors.Is(context.Cause(ctx), errNoAnswer) {
			// Every request was answered (with retriable errors):
			// no broker is to blame by name.
			return &ConnError{Addr: k.watch.pending(), msg: fmt.Sprintf("cluster %s did not complete the request within %s", k.watch.pending(), k.opts.Timeout), unavailable: true}
		}
		return err
	}
	return kafkaErr(err)
}

// shardErr is kadm's error of a request sent to several brokers, of
// which some answered: a broker that did not answer in time says so.
func (k *Kafka) shardErr(err error) error {
	var se *kadm.ShardErrors
	if errors.As(err, &se) && len(se.Errs) > 0 {
		first := se.Errs[0]
		if first.Broker.Host == "" {
			// Failed before it was sent to the brokers (finding them).
			if na := k.watch.noAnswer(); na != nil {
				return na
			}
		}
		var ne net.Error
		if errors.Is(first.Err, context.DeadlineExceeded) || errors.Is(first.Err, context.Canceled) || (errors.As(first.Err, &ne) && ne.Timeout()) ||
			errors.Is(first.Err, errNoAnswer) || strings.Contains(first.Err.Error(), context.DeadlineExceeded.Error()) {
			addr := net.JoinHostPort(first.Broker.Host, fmt.Sprint(first.Broker.Port))
			return &ConnError{Addr: addr, Err: first.Err, unavailable: true,
				msg: fmt.Sprintf("broker %s did not answer %s in time", addr, article(se.Name)+" request")}
		}
	}
	return kafkaErr(err)
}

// connWatch is a kgo hook that remembers, per broker address, whether its
// last connection attempt failed and why.
type connWatch struct {
	mu        sync.Mutex
	timeout   time.Duration
	asked     map[string]map[int16]*asked // requests written and not yet answered, by address and key
	silent    map[string]silence          // addresses whose last read timed out
	seeds     []string
	failed    map[string]error
	connected bool
	allFailed chan struct{}
	closed    bool
	last      string // the address of the last failure
	sasl      bool   // connections authenticate: an EOF in their set-up is a refusal
}

func newConnWatch(seeds []string, sasl bool, timeout time.Duration) *connWatch {
	return &connWatch{seeds: seeds, failed: map[string]error{}, allFailed: make(chan struct{}), sasl: sasl, timeout: timeout,
		asked: map[string]map[int16]*asked{}, silent: map[string]silence{}}
}

// silence is a broker's read that timed out: the request's key, and when.
type silence struct {
	key int16
	at  time.Time
}

// dialer dials brokers (with TLS if tlsCfg is set), except one whose
// read timed out less than the request timeout ago: that dial fails at
// once, so that kgo asks another broker rather than wait on it again
// (it may pick the same one for a retry). A stopped broker is tried
// again after that time, in case it was continued.
func (w *connWatch) dialer(timeout time.Duration, tlsCfg *tls.Config) func(context.Context, string, string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		w.mu.Lock()
		s, ok := w.silent[addr]
		w.mu.Unlock()
		if ok && time.Since(s.at) < requestTimeout(w.timeout) {
			// Said as a dial timeout, which kgo retries (after a
			// backoff, on the next broker where it may choose).
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", silentErr{})}
		}
		if tlsCfg == nil {
			return nd.DialContext(ctx, network, addr)
		}
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			cfg.ServerName = host
		}
		return (&tls.Dialer{NetDialer: nd, Config: cfg}).DialContext(ctx, network, addr)
	}
}

// silentErr is the dial error of a broker that did not answer: a
// timeout, and errNoAnswer.
type silentErr struct{}

func (silentErr) Error() string   { return "no answer" }
func (silentErr) Timeout() bool   { return true }
func (silentErr) Temporary() bool { return true }
func (silentErr) Unwrap() error   { return errNoAnswer }

// asked counts one broker's unanswered requests of one kind.
type asked struct {
	n     int
	since time.Time // when the oldest of them was written (the first, if some were answered since)
}

// waits are requests a live broker may rightly hold for long: a fetch
// waits for records, a produce with acks=all for the in-sync replicas,
// JoinGroup and SyncGroup for the group's other members, and the admin
// requests with a timeout (CreateTopics, DeleteTopics, CreatePartitions,
// ElectLeaders, AlterPartitionReassignments) for the brokers to take the
// change. Unanswered, they do not show that a broker is not answering (a
// timed-out read of one still does).
func waits(key int16) bool {
	switch key {
	case 0, 1, 11, 14, 19, 20, 37, 43, 45:
		return true
	}
	return false
}

func addrOf(meta kgo.BrokerMetadata) string {
	return net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port))
}

// OnBrokerWrite counts a request written to a broker as asked.
func (w *connWatch) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil || waits(key) {
		return
	}
	addr := addrOf(meta)
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.asked[addr]
	if m == nil {
		m = map[int16]*asked{}
		w.asked[addr] = m
	}
	a := m[key]
	if a == nil {
		a = &asked{since: time.Now()}
		m[key] = a
	}
	a.n++
}

// OnBrokerRead counts a request as answered; a read that timed out marks
// its broker silent until the broker next answers something.
func (w *connWatch) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	addr := addrOf(meta)
	w.mu.Lock()
	defer w.mu.Unlock()
	if a := w.asked[addr][key]; a != nil {
		if a.n--; a.n <= 0 {
			delete(w.asked[addr], key)
		}
	}
	var ne net.Error
	switch {
	case err == nil:
		delete(w.silent, addr)
	case errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded):
		// (A request's own context ending is no sign of the broker.)
		w.silent[addr] = silence{key, time.Now()}
	}
}

// OnBrokerDisconnect forgets the requests a closed connection carried:
// they will not be answered, and are no sign of a silent broker (a read
// that timed out, which closes the connection, marked it already).
func (w *connWatch) OnBrokerDisconnect(meta kgo.BrokerMetadata, _ net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.asked, addrOf(meta))
}

// noAnswer is the broker whose last read timed out, or else the one that
// has kept a request unanswered longest (for at least a quarter of the
// timeout: a live broker answers in far less), as a *ConnError naming it
// and the request; nil if no broker is known not to answer.
func (w *connWatch) noAnswer() *ConnError {
	w.mu.Lock()
	defer w.mu.Unlock()
	var (
		addr  string
		key   int16
		since time.Time
	)
	for a, s := range w.silent {
		if addr == "" || a < addr {
			addr, key = a, s.key
		}
	}
	if addr == "" {
		for a, m := range w.asked {
			for k, q := range m {
				if time.Since(q.since) >= w.timeout/4 && (addr == "" || q.since.Before(since)) {
					addr, key, since = a, k, q.since
				}
			}
		}
	}
	if addr == "" {
		return nil
	}
	return w.noAnswerErr(addr, key)
}

func (w *connWatch) noAnswerErr(addr string, key int16) *ConnError {
	return &ConnError{Addr: addr, Err: errNoAnswer, unavailable: true,
		msg: fmt.Sprintf("broker %s did not answer %s within %s", addr, requestName(key), w.timeout)}
}

// article puts "a" or "an" before a request's name.
func article(name string) string {
	if name != "" && strings.ContainsRune("AEIOU", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// requestName is a request's name as Kafka's documentation spells it.
func requestName(key int16) string {
	if n := kmsg.NameForKey(key); n != "" {
		return article(n) + " request"
	}
	return fmt.Sprintf("request %d", key)
}

func (w *connWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	addr := addrOf(meta)
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
	if s, ok := w.silent[addr]; ok {
		// A broker that did not answer (dialed again too soon, or the
		// connection made and ApiVersions sent but not answered): a
		// stopped or hung broker, not a refusal.
		err = w.noAnswerErr(addr, s.key)
	} else if w.asked[addr][18] != nil {
		err = w.noAnswerErr(addr, 18)
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
	var na *ConnError
	if errors.As(w.failed[w.last], &na) {
		return na
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
