package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret},
		"--database-url", dbURL, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("listening on %s, want an https:// address", s.URL)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %d", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Strict-Transport-Security"), "max-age=63072000; includeSubDomains"; got != want {
		t.Errorf("Strict-Transport-Security = %q, want %q", got, want)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS state %+v, want TLS 1.2 or later", resp.TLS)
	}

	// Plain HTTP on the TLS port gets no answer it could use.
	plain := strings.Replace(s.URL, "https://", "http://", 1)
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the TLS port answered 200")
		}
	}
}

func TestServeTLSSettings(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := selfSigned(t)
	dbURL, _ := sqliteURL(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", certFile}, "--tls-key"},
		{"key without cert", []string{"--tls-key", keyFile}, "--tls-cert"},
		{"key that is not a key", []string{"--tls-cert", certFile, "--tls-key", certFile}, "TLS certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--database-url", dbURL}, tc.args...)
			err := cli.RunWith(context.Background(), args, strings.NewReader(""), io.Discard, &stderr, opts(env{"GATEHOUSE_SECRET": testSecret}))
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
				t.Fatalf("serve %v: err %v, stderr %q; want an error naming %s", tc.args, err, stderr.String(), tc.want)
			}
		})
	}
}

var pprofRE = regexp.MustCompile(`serving profiles on (http://[^\s"\\]+)`)

func TestServeProfiles(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL, "--pprof-addr", "127.0.0.1:0")
	m := pprofRE.FindStringSubmatch(s.Log.String())
	if m == nil {
		t.Fatalf("no pprof address in the log:\n%s", s.Log)
	}
	for _, tc := range []struct {
		url  string
		want int
	}{
		{m[1], http.StatusOK},
		{strings.TrimSuffix(m[1], "/debug/pprof/") + "/debug/pprof/cmdline", http.StatusOK},
		{s.URL + "/debug/pprof/", http.StatusNotFound}, // never on the public address
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
	}
}
