"""The alliance: who shares whom, the reach it brings, tribe health, the digest."""
