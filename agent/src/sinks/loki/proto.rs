//! Loki push.proto messages (test decoding).
