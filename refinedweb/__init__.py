"""refinedweb: RefinedWeb's MacroData Refinement on Ray, and the Falcon trainer that consumes it."""

__version__ = "0.1.0"
