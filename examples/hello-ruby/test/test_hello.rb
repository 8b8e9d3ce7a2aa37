# frozen_string_literal: true

require 'minitest/autorun'
require 'hello'

class TestHello < Minitest::Test
  def test_greets_the_world_by_default
    assert_equal 'Hello, world!', Hello.greeting
    assert_equal 'Hello, world!', Hello.greeting('')
  end

  def test_greets_by_name
    assert_equal 'Hello, Ada!', Hello.greeting('Ada')
  end

  def test_health_path_answers_ok
    assert_equal [200, 'text/plain', "ok\n"], Hello.answer('/healthz')
  end

  def test_unknown_path_is_not_found
    assert_equal 404, Hello.answer('/nope').first
  end
end
