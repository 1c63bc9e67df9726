"""Example shops that live in the repository (not in the wheel): each joins Specter its own way."""
