//! Harness for the end-to-end tests: [`loki`], a test receiver that behaves like Loki's push
//! endpoint (the `test-loki` binary).

pub mod loki;
