"""Helpers shared by the test suites: local protocol servers (SMTP, webhook, Anthropic Messages), warehouses
filled by the real pipeline, and constructed inputs. Importable as `testkit.*` (pytest's `pythonpath`)."""
