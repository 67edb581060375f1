"""Raw sources: reading the files a retailer delivers, and landing them in bronze."""
