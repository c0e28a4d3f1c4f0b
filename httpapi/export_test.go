package httpapi

import "net/http"

// NewForTest is New, plus a function that waits until every flow running
// after its answer (forgot-password, request-verify-token) has finished, so
// tests can check what a flow did without sleeping.
func NewForTest(cfg Config) (http.Handler, func(), error) {
	a, h, err := build(cfg)
	if err != nil {
		return nil, nil, err
	}
	wait := func() {
		for range cap(a.flows) {
			a.flows <- struct{}{}
		}
		for range cap(a.flows) {
			<-a.flows
		}
	}
	return h, wait, nil
}
