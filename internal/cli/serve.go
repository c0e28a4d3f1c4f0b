package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/password"
)

const (
	shutdownTimeout = 10 * time.Second
	sweepInterval   = 5 * time.Minute
)

func newLogger(w io.Writer, c *config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve migrates the database, then serves the HTTP API until ctx ends.
func serve(ctx context.Context, c *config, cio cmdIO) error {
	log := newLogger(cio.stderr, c)
	if c.Secret == "" && c.DB.Driver != "sqlite" {
		return errors.New("serve: set GATEHOUSE_SECRET (or --secret) to at least 32 random bytes: " +
			"with PostgreSQL every instance must share it, so none can be generated")
	}

	db, err := openDatabase(ctx, c.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, name := range applied {
		log.Info("applied migration", "name", name)
	}

	secret := c.Secret
	if secret == "" {
		path := c.DB.Path + ".secret"
		var created bool
		if secret, created, err = fileSecret(path); err != nil {
			return err
		}
		log.Warn("using a signing secret kept next to the database; production should set GATEHOUSE_SECRET",
			"file", path, "generated", created)
	}

	handler, err := newHandler(ctx, c, cio.opts, db, secret, log)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{
		Handler:           httpapi.Recover(log)(handler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sweepCtx, stopSweep := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { sweep(sweepCtx, db.Revocations, log) })
	defer wg.Wait()
	defer stopSweep()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening on http://" + ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	<-served // http.ErrServerClosed
	log.Info("stopped")
	return nil
}

// newHandler wires the stores, hasher, strategy and transports into the
// HTTP API.
func newHandler(ctx context.Context, c *config, opts options, db *database, secret string, log *slog.Logger) (http.Handler, error) {
	sign, verify, err := signingKeys(ctx, db.Keys, c.JWTAlgorithm, secret, c.AccessTokenTTL, time.Now(), log)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	strategy, err := jwt.New(jwt.Config{
		Key:         sign,
		Verify:      verify,
		Issuer:      c.JWTIssuer,
		Lifetime:    c.AccessTokenTTL,
		Revocations: db.Revocations,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}

	var backends []gatehouse.Backend
	for _, b := range c.Backends {
		// parseBackends admits only the transports and strategies built here.
		backends = append(backends, gatehouse.Backend{
			Name:      b.Name,
			Transport: &bearer.Transport{},
			Strategy:  strategy,
		})
	}
	auth, err := gatehouse.NewAuthenticator(db.Users, backends...)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	manager := &gatehouse.Manager{
		Users:     db.Users,
		Hasher:    &password.Hasher{Params: opts.HashParams},
		Passwords: &password.Policy{MinLength: c.PasswordMinLength},
	}
	api, err := httpapi.New(httpapi.Config{
		Manager:             manager,
		Authenticator:       auth,
		RequireVerification: c.RequireVerification,
		Logger:              log,
		Ready:               db.Ping,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}

	// httpapi serves the account routes; the keys are the server's, so the
	// server publishes them.
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", jwt.JWKS(append([]jwt.Key{sign}, verify...)...))
	mux.Handle("/", api)
	return mux, nil
}

// sweep drops expired revocations now and then, until ctx ends.
func sweep(ctx context.Context, r revocations, log *slog.Logger) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := r.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("sweeping expired revocations failed", "err", err)
		case n > 0:
			log.Debug("swept expired revocations", "count", n)
		}
	}
}
