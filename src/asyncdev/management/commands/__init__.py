"""Django management commands of asyncdev (found by Django when "asyncdev" is installed)."""
