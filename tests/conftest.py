"""Shared test setup. Qt tests run offscreen; nothing here touches devices."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
