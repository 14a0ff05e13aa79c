"""Publishing test messages: single publishes, saved messages (templates) and bulk jobs."""
