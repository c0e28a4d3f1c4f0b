package webhook

// Workers is how many deliveries are in flight at once, so tests can keep
// every worker busy.
const Workers = workers
