//! End-to-end test harness (see e2e/tests/). Placeholder until the e2e issue lands.
