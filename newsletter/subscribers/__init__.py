"""Subscribers: consent (double opt-in, confirmation, unsubscribe, preferences), who may be
mailed, the suppression list, an address's health after bounces and complaints, and CSV
import and export."""
