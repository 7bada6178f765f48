-- rewind's own database next to Temporal's (auto-setup creates those).
CREATE DATABASE rewind;
