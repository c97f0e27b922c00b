package dev.mcmux.routing;

/** One reply of a configuration endpoint to {@code config get cluster} or its legacy form. */
sealed interface ConfigReply {

  /** What the reply says, for error reports. */
  String describe();

  /** A well-formed cluster description. */
  record Config(ClusterConfig config) implements ConfigReply {
    @Override
    public String describe() {
      return "cluster config " + config;
    }
  }

  /** An {@code ERROR}, {@code CLIENT_ERROR ...} or {@code SERVER_ERROR ...} line. */
  record ErrorLine(String line) implements ConfigReply {
    /** Plain {@code ERROR}: the server does not know the command at all. */
    boolean unknownCommand() {
      return line.equals("ERROR") || line.startsWith("ERROR ");
    }

    @Override
    public String describe() {
      return "the endpoint answered '" + line + "'";
    }
  }

  /** {@code END} alone: the legacy key does not exist (not an ElastiCache endpoint). */
  record Missing() implements ConfigReply {
    @Override
    public String describe() {
      return "the endpoint has no AmazonElastiCache:cluster key (not an ElastiCache"
          + " configuration endpoint?)";
    }
  }

  /** A reply framed correctly whose body is not a usable cluster description. */
  record Unusable(String reason) implements ConfigReply {
    @Override
    public String describe() {
      return reason;
    }
  }
}
