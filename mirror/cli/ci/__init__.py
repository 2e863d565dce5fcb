"""`hubgate lock` and `hubgate check`: the models a code base uses, pinned in a reviewed lock file and
checked against a running hubgate (from CI, with a viewer token, never downloading a weight)."""
