"""Dataset readers and writers: ITOP (and synthetic sets in its layout), Baracca."""
