-- rewind's own database next to Temporal's (temporal-schema creates that).
CREATE DATABASE rewind;
