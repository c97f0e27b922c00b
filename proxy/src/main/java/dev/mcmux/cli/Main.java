package dev.mcmux.cli;

/** Entry point of the mcmux command line. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.out.println("mcmux");
  }
}
