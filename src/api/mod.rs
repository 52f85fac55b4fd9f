//! Talking to the partner API: signing ([`sign`]), credentials ([`credentials`]), request and
//! answer bodies ([`wire`]), answer classes ([`classify`]), retry timing ([`backoff`]) and the
//! HTTP client that ties them together ([`client`]).

pub mod backoff;
pub mod classify;
pub mod client;
pub mod credentials;
pub mod sign;
pub mod wire;
