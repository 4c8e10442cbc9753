"""What several stages share: notebook setup, classification and QA loading, run tables."""
