"""etl: declarative, config-driven pipelines from REST sources into stores."""

__version__ = "0.1.0"
