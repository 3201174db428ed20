"""Local membership state: newest-wins updates, access holds, payments and their consequences."""
