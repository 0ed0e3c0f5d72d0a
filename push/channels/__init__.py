"""Delivery channels: webhook (signed JSON), e-mail (SMTP) and the in-app inbox."""
