"""The till's side of the HQ link: pull sales, push documents, the online check, status."""
