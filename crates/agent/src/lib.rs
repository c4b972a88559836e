//! The host agent: Canopy's Spherelet.
