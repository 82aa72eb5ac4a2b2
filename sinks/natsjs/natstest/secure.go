package natstest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// Secure is how a production server protects itself: TLS (with client certificates
// verified when ClientCA is set) and one kind of authentication.
type Secure struct {
	Cert     *certs.Pair    // the server's certificate; nil: no TLS
	ClientCA *certs.CA      // verify client certificates against this CA; nil: none asked
	Auth     *Auth          // decentralised JWT auth (operator, accounts, .creds users)
	Nkeys    []string       // public keys of NKey users (no JWTs)
	Token    string         // a token clients give (nats://TOKEN@host)
	Users    []*server.User // users with passwords (nats://user:pass@host) and their permissions

	// Client is what the tests' own consumers present: the CA, a client
	// certificate when ClientCA is set, and credentials.
	Client []nats.Option
}

// apply sets o up; Start calls it every time, so a change to Auth (a revocation)
// reaches a restarted server.
func (sec *Secure) apply(o *server.Options) error {
	if sec.Cert != nil {
		tc := &server.TLSConfigOpts{CertFile: sec.Cert.CertFile, KeyFile: sec.Cert.KeyFile, Timeout: 2}
		if sec.ClientCA != nil {
			tc.CaFile, tc.Verify = sec.ClientCA.File, true
		}
		cfg, err := server.GenTLSConfig(tc)
		if err != nil {
			return err
		}
		o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, sec.ClientCA != nil, cfg, 2
	}
	if sec.Auth != nil {
		if err := sec.Auth.apply(o); err != nil {
			return err
		}
	}
	o.Authorization = sec.Token
	o.Users = sec.Users
	for _, pub := range sec.Nkeys {
		o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: pub})
	}
	return nil
}

// Auth is decentralised JWT authentication as nsc sets it up: an operator, a system
// account and one account with JetStream, whose users log in with .creds files. The
// server resolves accounts from memory.
type Auth struct {
	mu         sync.Mutex
	dir        string
	operator   nkeys.KeyPair
	opClaims   *jwt.OperatorClaims
	sys, acc   nkeys.KeyPair
	sysClaims  *jwt.AccountClaims
	accClaims  *jwt.AccountClaims
	foreignAcc nkeys.KeyPair
	noJS       nkeys.KeyPair // an account the server knows, without JetStream
	noJSClaims *jwt.AccountClaims
}

// NewAuth makes the operator and its accounts.
func NewAuth(t testing.TB) *Auth {
	t.Helper()
	a := &Auth{dir: t.TempDir()}
	a.operator = must(t)(nkeys.CreateOperator())
	a.opClaims = jwt.NewOperatorClaims(pub(t, a.operator))
	a.opClaims.Name = "test-operator"
	a.sys = must(t)(nkeys.CreateAccount())
	a.sysClaims = jwt.NewAccountClaims(pub(t, a.sys))
	a.sysClaims.Name = "SYS"
	a.opClaims.SystemAccount = a.sysClaims.Subject
	a.acc = must(t)(nkeys.CreateAccount())
	a.accClaims = jwt.NewAccountClaims(pub(t, a.acc))
	a.accClaims.Name = "BRIDGE"
	a.accClaims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	a.foreignAcc = must(t)(nkeys.CreateAccount())
	a.noJS = must(t)(nkeys.CreateAccount())
	a.noJSClaims = jwt.NewAccountClaims(pub(t, a.noJS))
	a.noJSClaims.Name = "NOJS"
	return a
}

func (a *Auth) apply(o *server.Options) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	opJWT, err := a.opClaims.Encode(a.operator)
	if err != nil {
		return err
	}
	opClaims, err := jwt.DecodeOperatorClaims(opJWT)
	if err != nil {
		return err
	}
	res := &server.MemAccResolver{}
	for _, c := range []*jwt.AccountClaims{a.sysClaims, a.accClaims, a.noJSClaims} {
		tok, err := c.Encode(a.operator)
		if err != nil {
			return err
		}
		if err := res.Store(c.Subject, tok); err != nil {
			return err
		}
	}
	o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
	o.AccountResolver = res
	o.SystemAccount = a.sysClaims.Subject
	return nil
}

// Creds issues a user of the JetStream account and returns the path of its .creds
// file (user JWT and NKey seed, as nsc writes it).
func (a *Auth) Creds(t testing.TB, name string) string {
	t.Helper()
	path, _ := a.user(t, name, a.acc)
	return path
}

// CredsWithPermissions issues a user of the JetStream account that may publish only
// to pub and subscribe only to sub (what `nsc add user --allow-pub … --allow-sub …`
// writes into the user's JWT).
func (a *Auth) CredsWithPermissions(t testing.TB, name string, pub, sub []string) string {
	t.Helper()
	path, _ := a.userWith(t, name, a.acc, func(c *jwt.UserClaims) {
		c.Pub.Allow.Add(pub...)
		c.Sub.Allow.Add(sub...)
	})
	return path
}

// RevokedCreds issues a user and revokes it in the account; it takes effect when
// the server starts (or restarts) afterwards.
func (a *Auth) RevokedCreds(t testing.TB, name string) string {
	t.Helper()
	path, userPub := a.user(t, name, a.acc)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accClaims.RevokeAt(userPub, time.Now().Add(time.Minute))
	return path
}

// Revoke revokes the user of a .creds file this Auth issued; it takes effect when
// the server starts (or restarts) afterwards.
func (a *Auth) Revoke(t testing.TB, credsFile string) {
	t.Helper()
	b, err := os.ReadFile(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.accClaims.RevokeAt(uc.Subject, time.Now().Add(time.Minute))
}

// ForeignCreds issues a user signed by an account the operator never signed: a
// well-formed .creds file the server must refuse.
func (a *Auth) ForeignCreds(t testing.TB, name string) string {
	t.Helper()
	path, _ := a.user(t, name, a.foreignAcc)
	return path
}

// NoJetStreamCreds issues a user of an account the server knows but that has no
// JetStream: the credentials log in, and every JetStream call is refused.
func (a *Auth) NoJetStreamCreds(t testing.TB, name string) string {
	t.Helper()
	path, _ := a.user(t, name, a.noJS)
	return path
}

func (a *Auth) user(t testing.TB, name string, account nkeys.KeyPair) (path, userPub string) {
	t.Helper()
	return a.userWith(t, name, account, func(*jwt.UserClaims) {})
}

func (a *Auth) userWith(t testing.TB, name string, account nkeys.KeyPair, edit func(*jwt.UserClaims)) (path, userPub string) {
	t.Helper()
	u := must(t)(nkeys.CreateUser())
	userPub = pub(t, u)
	claims := jwt.NewUserClaims(userPub)
	claims.Name = name
	edit(claims)
	tok, err := claims.Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := u.Seed()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(a.dir, name+".creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, userPub
}

// NkeyUser makes an NKey user and returns its seed file and public key.
func NkeyUser(t testing.TB) (seedFile, publicKey string) {
	t.Helper()
	u := must(t)(nkeys.CreateUser())
	seed, err := u.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, pub(t, u)
}

func must(t testing.TB) func(nkeys.KeyPair, error) nkeys.KeyPair {
	return func(kp nkeys.KeyPair, err error) nkeys.KeyPair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
}

func pub(t testing.TB, kp nkeys.KeyPair) string {
	t.Helper()
	p, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Secured is a production-like server, started by StartSecured: TLS that verifies
// client certificates against CA, and operator/account JWT authentication, with the
// files an operator hands the bridge.
type Secured struct {
	Server   *Server
	CA       *certs.CA
	Client   certs.Pair // the bridge's client certificate
	Auth     *Auth
	Creds    string // the bridge's .creds file
	Consumer string // a consumer's .creds file, which Server.ClientOptions presents
}

// StartSecured runs a Secured server until t ends.
func StartSecured(t testing.TB) *Secured {
	t.Helper()
	s := &Secured{CA: certs.NewCA(t, "nats test CA"), Auth: NewAuth(t)}
	srv := s.CA.Server(t)
	s.Client = s.CA.Client(t, "audiospliter-bridge")
	s.Creds = s.Auth.Creds(t, "bridge")
	s.Consumer = s.Auth.Creds(t, "consumer")
	s.Server = StartSecure(t, Secure{
		Cert: &srv, ClientCA: s.CA, Auth: s.Auth,
		Client: []nats.Option{nats.RootCAs(s.CA.File), nats.ClientCert(s.Client.CertFile, s.Client.KeyFile), nats.UserCredentials(s.Consumer)},
	})
	return s
}
