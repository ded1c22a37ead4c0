"""The world agents and pipes act on: event store, outbox, transports, scheduler."""
