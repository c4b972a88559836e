//! Canopy's DRS: decides which host each pending pod runs on.
