"""The read side: status, query and the dashboard, over the lake and the warehouse."""
