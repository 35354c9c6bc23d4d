"""Media: safe image decoding, video I/O, scenes and labels."""
