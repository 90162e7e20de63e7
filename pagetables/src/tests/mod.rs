//! Host tests over simulated RAM.

mod props;
mod sim;
mod unit;
