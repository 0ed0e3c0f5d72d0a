"""The ``policy-match`` command line: thin verbs over the library, I/O at the edge."""
