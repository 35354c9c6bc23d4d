"""zaobot: consent-first face swap."""
