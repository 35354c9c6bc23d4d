"""Job runners: rendering happens here, never in the event loop."""
