package httpapi

import "net/http"

// NewForTest is New, plus a function that waits until every flow running
// after its answer (forgot-password, request-verify-token) has finished, so
// tests can check what a flow did without sleeping, and the patterns of the
// route table the mux is mounted from.
func NewForTest(cfg Config) (h http.Handler, wait func(), patterns []string, err error) {
	a, h, err := build(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	wait = func() {
		for range cap(a.flows) {
			a.flows <- struct{}{}
		}
		for range cap(a.flows) {
			<-a.flows
		}
	}
	for _, rt := range a.routes() {
		patterns = append(patterns, rt.method+" "+rt.path)
	}
	return h, wait, patterns, nil
}
