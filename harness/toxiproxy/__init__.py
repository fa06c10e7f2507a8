"""toxiproxy"""
